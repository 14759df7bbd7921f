"""Knowledge in and out of the database: YAML content directories, CSV and Excel files."""
