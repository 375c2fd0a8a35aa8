from sparknn.cli import main

raise SystemExit(main())
