"""In-memory fakes of every port, shared by the tests and the demo portal."""
