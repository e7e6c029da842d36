// Package childproc starts the private servers of dev and tests (PostgreSQL,
// Valkey, MinIO) as children that stay apart from the terminal and die with
// this process: each in its own process group, so a Ctrl-C on the terminal
// reaches only Sovereign (which then stops them in order), with a signal from
// the kernel when this process dies (Linux), and killed as a whole group
// when a stop takes too long.
package childproc
