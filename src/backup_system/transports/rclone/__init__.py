"""rclone destinations: Box, Google Drive, S3 and S3-compatible stores, WebDAV, SFTP — any rclone remote."""
