import sys

from fibrecert.cli import main

sys.exit(main())
