"""CI for notebooks: ``ci run`` (strict plan, smoke runs of the changed functions, gates, a
Markdown comparison with the champion) and ``ci init`` (the workflow files that call it)."""
