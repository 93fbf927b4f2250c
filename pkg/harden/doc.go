// Package harden checks an image against hardening rules: no root user, no shell or package manager,
// no setuid or world-writable files, sound accounts, no build leftovers, no ADD from a URL, a base
// pinned by digest and no secrets. Each rule has a stable ID, a severity and, where one exists, the
// CIS Docker Benchmark §4 recommendation it implements, so a lint result is evidence a policy can cite.
package harden
