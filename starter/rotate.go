package main

import (
	"context"
	"fmt"
	"io"

	"github.com/keyrotor/keyrotor/internal/operator"
)

func rotateCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("rotate", "rotate --config FILE --user NAME [--account NAME] [--wait] [--output text|json]")
	common := addCommonFlags(fs)
	wait := fs.Bool("wait", false, "wait for the rotation to end and print its report; exit status 1 if it failed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := common.load(ctx, fs)
	if err != nil {
		return err
	}
	defer env.close()

	started, err := operator.StartRotation(ctx, env.client, env.cfg.TaskQueue, env.rotation)
	if err != nil {
		return err
	}
	verb := "started"
	if started.AlreadyRunning {
		verb = "already running"
	}
	return followRotation(ctx, env, started, fmt.Sprintf("rotation %s %s (run %s)", started.WorkflowID, verb, started.RunID), *wait, *common.output, stdout)
}
