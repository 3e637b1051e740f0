"""Sub-commands of the `yolo9000` CLI; each module has `add_parser(subparsers)`."""
