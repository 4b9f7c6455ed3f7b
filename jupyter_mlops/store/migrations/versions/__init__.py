"""One module per revision; ``migrate.HEAD`` names the newest."""
