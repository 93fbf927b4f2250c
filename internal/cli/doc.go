// Package cli holds ingot's commands: one file per verb, each parsing flags and arguments, calling
// one library function and printing to the command's writers. Environment variables are read in
// env.go only, and errors map to exit codes in exit.go.
package cli
