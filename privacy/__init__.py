"""Private information box, attachments, flags. Arrives with the privacy issue."""
