"""The DAG authoring SDK: what DAG files import. It never imports server code."""
