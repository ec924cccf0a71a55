"""Command-line layer: one module per subcommand (``configure_parser`` + ``execute``)."""
