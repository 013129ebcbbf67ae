package connect

import (
	"context"
	"fmt"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/keyrotor/keyrotor/internal/contract"
)

// EnsureSearchAttributes registers keyrotor's search attributes
// (KeyrotorUser, KeyrotorAccount, KeyrotorPhase, all Keyword) on the
// namespace when they are missing. Where the worker may not add them (a
// managed namespace such as Temporal Cloud), the error says how to add them
// by hand.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return missingAttributesError(namespace, contract.SearchAttributeNames, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range contract.SearchAttributeNames {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing}); err != nil {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		slices.Sort(names)
		return missingAttributesError(namespace, names, err)
	}
	return nil
}

func missingAttributesError(namespace string, names []string, cause error) error {
	var cmds []string
	for _, n := range names {
		cmds = append(cmds, fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type Keyword", namespace, n))
	}
	return fmt.Errorf("namespace %s needs the search attributes %s and the worker could not check or add them (%v); add them as an administrator:\n  %s\n(on Temporal Cloud: tcld namespace search-attributes add, or the Cloud UI)",
		namespace, strings.Join(names, ", "), cause, strings.Join(cmds, "\n  "))
}
