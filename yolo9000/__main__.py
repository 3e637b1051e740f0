import sys

from yolo9000.cli import main

sys.exit(main())
