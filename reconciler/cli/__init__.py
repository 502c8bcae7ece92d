"""The `cxrecon` command line: thin click wrappers over the library, one module per command."""
