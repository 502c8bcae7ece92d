"""The status page for the people who run the contact center: the controller's overview at
`/`, one page per connector at `/connectors/NAME`, server-rendered HTML with inline SVG charts
(no JavaScript, nothing fetched from elsewhere), read from the same CycleReport objects /status
serves.

`states` (the words for a connector's state) has no dependency beyond the report's values, so
`cxrecon status` shares it without importing the templates.
"""
