"""Helpers the tests share: factories, reference models, a live server's environment, the
auditor's tool, browser and schema-fuzz support."""
