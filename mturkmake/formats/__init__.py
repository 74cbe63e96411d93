"""Pure readers and writers of the CLT file formats: no network, no plugin manager."""
