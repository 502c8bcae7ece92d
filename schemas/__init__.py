"""Published JSON Schemas and the OpenAPI document, shipped as package resources."""
