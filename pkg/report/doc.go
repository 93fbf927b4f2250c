// Package report renders an evidence.Report for people and machines: a table, JSON, or SARIF 2.1.0 for
// code-scanning dashboards. Every evidence command (scan, secrets, lint, test) prints through here, so
// their outputs look and parse alike.
package report
