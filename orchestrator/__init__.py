"""The control role: parsing, planning, job store, dispatch, assembly, CLI."""
