// Package contract is what clients of keyrotor's workflows share with them:
// workflow, query, signal and update names, their inputs and results, the
// status a rotation reports, and the search attributes it carries. It holds
// no workflow code and imports no workflow SDK package, so the starter, the
// operator tools, the report and the tests use it without importing the
// workflows.
package contract
