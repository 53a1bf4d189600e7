"""smb destinations: a Windows or Samba share, through smbclient or, when mounted here, rsync."""
