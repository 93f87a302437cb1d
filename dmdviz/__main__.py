import sys

from dmdviz.cli import main

sys.exit(main())
