from ate.cli import main

raise SystemExit(main())
