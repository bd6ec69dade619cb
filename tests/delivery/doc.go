// Package delivery checks the delivery pipelines as files, without GitHub, Pulumi or k6: the workflows under
// .github/ (parsed as YAML) hold the properties the team relies on (a drift job that cannot write state, the
// agreed schedules, least-privilege tokens, pinned actions), the scripts they call behave as documented, and the
// k6 load test, loaded under node with stand-ins for k6's modules, carries the guide's SLAs as thresholds.
//
// It imports neither Pulumi nor k6 (k6 is AGPL: its scripts are files users run with their own k6).
package delivery
