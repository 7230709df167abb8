"""``colorize --serve``: a local web page that colours a dropped photo with each checkpoint, side by side."""
