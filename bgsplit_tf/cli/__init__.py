"""Command-line programs: each module parses its flags, calls the library and maps faults to exit codes."""
