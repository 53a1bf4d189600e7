"""rsync destinations: a local folder, a mounted share, or user@host:/path over ssh."""
