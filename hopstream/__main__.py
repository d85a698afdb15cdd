from hopstream.cli import main

raise SystemExit(main())
