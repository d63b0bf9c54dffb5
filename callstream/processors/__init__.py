"""Stream processors that turn call events into intelligence."""
