DROP TABLE IF EXISTS pending_todos;
