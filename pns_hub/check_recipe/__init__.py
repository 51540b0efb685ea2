"""``pns-hub check-recipe``: which task a recipe YAML is (``files``), memory arithmetic (``memory``), time and size
estimates (``estimates``), a CPU dry run at tiny shapes (``dry_run``), and the command itself (``check``)."""
