package main

// The workers and the 17-call lifecycle, written against Temporal's persistence managers the
// way bench's operations.py writes it against our stores; the call-by-call mapping is in
// docs/benchmarks.md ("The peer").

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	enumsspb "go.temporal.io/server/api/enums/v1"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/chasm"
	"go.temporal.io/server/common/definition"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/versionhistory"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/service/history/tasks"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// A shard lease hands out task and transaction ids from rangeID << rangeBits, as
	// Temporal's shard context does (and bench's workers).
	rangeBits        = 20
	queueRangeID     = 1
	failoverVersion  = 0
	payloadBytes     = 225
	attributeBytes   = 80
	completeTaskPage = 100
)

// payload is the same opaque input or result on the four events of a lifecycle that carry
// one: with every event's own fields the ten events serialize to about 1.5 KB, as bench's
// ten prebuilt 150-byte events do.
var payload = &commonpb.Payloads{Payloads: []*commonpb.Payload{binaryPayload(payloadBytes)}}

// searchAttribute brings the serialized execution info to about the 400 bytes of bench's
// prebuilt blob (it is about 300 without).
var searchAttribute = map[string]*commonpb.Payload{"BenchKeyword": binaryPayload(attributeBytes)}

func binaryPayload(size int) *commonpb.Payload {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	return &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/plain")}, Data: data}
}

type worker struct {
	index       int
	tag         string
	shardID     int32
	rangeID     int64
	nextID      int64
	namespaceID string
	queue       *persistencespb.TaskQueueInfo
	nextTaskID  int64
	runs        int
}

func (w *worker) takeID() int64 {
	id := w.nextID
	w.nextID++
	return id
}

func prepareWorkers(ctx context.Context, m *managers, o options) ([]*worker, error) {
	namespaceID := primitives.NewUUID().String()
	workers := make([]*worker, o.workers)
	errs := make([]error, o.workers)
	limit := make(chan struct{}, 16) // as bench's prepare_workers: 16 at a time
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{index: i, tag: o.tag, shardID: int32(o.firstShard + i), namespaceID: namespaceID}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			limit <- struct{}{}
			defer func() { <-limit }()
			errs[i] = w.prepare(ctx, m)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return workers, nil
}

// prepare leases the worker's shard (the range-id CAS a history host does on shard
// acquisition) and creates its task queue, as bench's _prepare does through our stores.
func (w *worker) prepare(ctx context.Context, m *managers) error {
	got, err := m.shard.GetOrCreateShard(ctx, &persistence.GetOrCreateShardRequest{
		ShardID:          w.shardID,
		InitialShardInfo: &persistencespb.ShardInfo{ShardId: w.shardID, Owner: "bench"},
	})
	if err != nil {
		return fmt.Errorf("shard %d: %w", w.shardID, err)
	}
	info := got.ShardInfo
	previous := info.RangeId
	info.RangeId = previous + 1
	info.UpdateTime = timestamppb.Now()
	if err := m.shard.UpdateShard(ctx, &persistence.UpdateShardRequest{
		ShardInfo: info, PreviousRangeID: previous,
	}); err != nil {
		return fmt.Errorf("shard %d lease: %w", w.shardID, err)
	}
	w.rangeID = info.RangeId
	w.nextID = w.rangeID << rangeBits
	w.queue = &persistencespb.TaskQueueInfo{
		NamespaceId:    w.namespaceID,
		Name:           fmt.Sprintf("%s-w%d-lifecycle", w.tag, w.index),
		TaskType:       enumspb.TASK_QUEUE_TYPE_WORKFLOW,
		Kind:           enumspb.TASK_QUEUE_KIND_NORMAL,
		LastUpdateTime: timestamppb.Now(),
	}
	w.nextTaskID = queueRangeID << rangeBits
	if _, err := m.task.CreateTaskQueue(ctx, &persistence.CreateTaskQueueRequest{
		RangeID: queueRangeID, TaskQueueInfo: w.queue,
	}); err != nil {
		return fmt.Errorf("task queue %s: %w", w.queue.Name, err)
	}
	return nil
}

// run is one workflow's state as a history service keeps it between calls.
type run struct {
	w           *worker
	key         definition.WorkflowKey
	branchToken []byte
	info        *persistencespb.WorkflowExecutionInfo
	state       *persistencespb.WorkflowExecutionState
	nextEventID int64
	txnID       int64
	version     int64
	// written is the next event id the stored mutable state holds: the condition of the
	// next update (Temporal's Condition, with DBRecordVersion's CAS beside it).
	written int64
}

func (w *worker) newRun(m *managers) (*run, error) {
	w.runs++
	workflowID := fmt.Sprintf("%s-w%d-wf%d", w.tag, w.index, w.runs)
	runID := primitives.NewUUID().String()
	// A history service builds the branch token once per run and keeps it in the run's
	// version histories; the tree id is the run id, as for every first run.
	token, err := m.execution.GetHistoryBranchUtil().NewHistoryBranch(
		w.namespaceID, workflowID, runID, runID, nil, nil, 0, 0, 0,
	)
	if err != nil {
		return nil, err
	}
	now := timestamppb.Now()
	r := &run{
		w:           w,
		key:         definition.NewWorkflowKey(w.namespaceID, workflowID, runID),
		branchToken: token,
		nextEventID: 1,
		version:     1,
	}
	r.info = &persistencespb.WorkflowExecutionInfo{
		NamespaceId:                w.namespaceID,
		WorkflowId:                 workflowID,
		TaskQueue:                  w.queue.Name,
		WorkflowTypeName:           "bench-workflow",
		WorkflowRunTimeout:         durationpb.New(time.Hour),
		DefaultWorkflowTaskTimeout: durationpb.New(10 * time.Second),
		StartTime:                  now,
		LastUpdateTime:             now,
		ExecutionTime:              now,
		FirstExecutionRunId:        runID,
		VersionHistories: versionhistory.NewVersionHistories(
			versionhistory.NewVersionHistory(token, nil),
		),
		ExecutionStats:   &persistencespb.ExecutionStats{},
		SearchAttributes: searchAttribute,
	}
	r.state = &persistencespb.WorkflowExecutionState{
		CreateRequestId: primitives.NewUUID().String(),
		RunId:           runID,
		State:           enumsspb.WORKFLOW_EXECUTION_STATE_RUNNING,
		Status:          enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		StartTime:       now,
	}
	return r, nil
}

// append writes the run's next history batch (events of the given types) on its branch.
func (r *run) append(ctx context.Context, m *managers, types ...enumspb.EventType) error {
	events := make([]*historypb.HistoryEvent, len(types))
	now := timestamppb.Now()
	for i, eventType := range types {
		events[i] = event(r.nextEventID+int64(i), eventType, now, r.w.queue.Name)
	}
	txnID := r.w.takeID()
	request := &persistence.AppendHistoryNodesRequest{
		ShardID:           r.w.shardID,
		BranchToken:       r.branchToken,
		Events:            events,
		PrevTransactionID: r.txnID,
		TransactionID:     txnID,
	}
	if r.nextEventID == 1 {
		request.IsNewBranch = true
		request.Info = persistence.BuildHistoryGarbageCleanupInfo(
			r.key.NamespaceID, r.key.WorkflowID, r.key.RunID,
		)
	}
	response, err := m.execution.AppendHistoryNodes(ctx, request)
	if err != nil {
		return err
	}
	r.nextEventID += int64(len(types))
	r.txnID = txnID
	// What the history service does with each batch: the version history and size.
	history := r.info.VersionHistories.Histories[0]
	item := versionhistory.NewVersionHistoryItem(r.nextEventID-1, failoverVersion)
	if err := versionhistory.AddOrUpdateVersionHistoryItem(history, item); err != nil {
		return err
	}
	r.info.ExecutionStats.HistorySize += int64(response.Size)
	r.info.LastFirstEventId = events[0].EventId
	return nil
}

func event(id int64, eventType enumspb.EventType, now *timestamppb.Timestamp, queue string) *historypb.HistoryEvent {
	e := &historypb.HistoryEvent{EventId: id, EventTime: now, EventType: eventType, Version: failoverVersion}
	taskQueue := &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}
	switch eventType {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		e.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
			WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
				WorkflowType: &commonpb.WorkflowType{Name: "bench-workflow"},
				TaskQueue:    taskQueue,
				Input:        payload,
			},
		}
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
		e.Attributes = &historypb.HistoryEvent_WorkflowTaskScheduledEventAttributes{
			WorkflowTaskScheduledEventAttributes: &historypb.WorkflowTaskScheduledEventAttributes{
				TaskQueue: taskQueue, StartToCloseTimeout: durationpb.New(10 * time.Second), Attempt: 1,
			},
		}
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
		e.Attributes = &historypb.HistoryEvent_WorkflowTaskStartedEventAttributes{
			WorkflowTaskStartedEventAttributes: &historypb.WorkflowTaskStartedEventAttributes{
				ScheduledEventId: id - 1, Identity: "bench-worker", RequestId: "bench-request",
			},
		}
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
		e.Attributes = &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{
			WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{
				ScheduledEventId: id - 2, StartedEventId: id - 1, Identity: "bench-worker",
			},
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		e.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
			ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				ActivityId:   "1",
				ActivityType: &commonpb.ActivityType{Name: "bench-activity"},
				TaskQueue:    taskQueue,
				Input:        payload,
			},
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		e.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
			ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{
				ScheduledEventId: id - 1, Identity: "bench-worker", RequestId: "bench-request", Attempt: 1,
			},
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		e.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
			ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
				Result: payload, ScheduledEventId: id - 2, StartedEventId: id - 1,
			},
		}
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		e.Attributes = &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{
			WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{
				Result: payload, WorkflowTaskCompletedEventId: id - 1,
			},
		}
	}
	return e
}

func (r *run) transferTask(activity bool) tasks.Task {
	id := r.w.takeID()
	key := definition.NewWorkflowKey(r.key.NamespaceID, r.key.WorkflowID, r.key.RunID)
	if activity {
		return &tasks.ActivityTask{
			WorkflowKey: key, TaskID: id, TaskQueue: r.w.queue.Name, ScheduledEventID: r.nextEventID - 1,
			VisibilityTimestamp: time.Now().UTC(),
		}
	}
	return &tasks.WorkflowTask{
		WorkflowKey: key, TaskID: id, TaskQueue: r.w.queue.Name, ScheduledEventID: r.nextEventID - 1,
		VisibilityTimestamp: time.Now().UTC(),
	}
}

func categoryTasks(task tasks.Task) map[tasks.Category][]tasks.Task {
	if task == nil {
		return nil
	}
	return map[tasks.Category][]tasks.Task{tasks.CategoryTransfer: {task}}
}

// update is one state transition: the mutable state's new version, conditioned on the
// previous one, with the run's current record, as the history service's UpdateCurrent.
func (r *run) update(ctx context.Context, m *managers, task tasks.Task, change func(*persistence.WorkflowMutation)) error {
	r.version++
	r.info.LastUpdateTime = timestamppb.Now()
	r.info.StateTransitionCount++
	mutation := persistence.WorkflowMutation{
		ExecutionInfo:   r.info,
		ExecutionState:  r.state,
		NextEventID:     r.nextEventID,
		Tasks:           categoryTasks(task),
		Condition:       r.written,
		DBRecordVersion: r.version,
	}
	if change != nil {
		change(&mutation)
	}
	_, err := m.execution.UpdateWorkflowExecution(ctx, &persistence.UpdateWorkflowExecutionRequest{
		ShardID:                r.w.shardID,
		RangeID:                r.w.rangeID,
		Mode:                   persistence.UpdateWorkflowModeUpdateCurrent,
		ArchetypeID:            chasm.WorkflowArchetypeID,
		UpdateWorkflowMutation: mutation,
	})
	if err == nil {
		r.written = r.nextEventID
	}
	return err
}

// lifecycle is bench's workflow lifecycle (operations.py), call for call: 17 manager calls.
func (w *worker) lifecycle(ctx context.Context, m *managers) (*runKey, error) {
	r, err := w.newRun(m)
	if err != nil {
		return nil, err
	}
	// 1-2: the first history batch on a new branch, then the run with its first transfer
	// task (a workflow task), brand new: the current record must not exist.
	if err := r.append(ctx, m, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED); err != nil {
		return nil, err
	}
	first := r.transferTask(false)
	if _, err := m.execution.CreateWorkflowExecution(ctx, &persistence.CreateWorkflowExecutionRequest{
		ShardID:     w.shardID,
		RangeID:     w.rangeID,
		Mode:        persistence.CreateWorkflowModeBrandNew,
		ArchetypeID: chasm.WorkflowArchetypeID,
		NewWorkflowSnapshot: persistence.WorkflowSnapshot{
			ExecutionInfo:   r.info,
			ExecutionState:  r.state,
			NextEventID:     r.nextEventID,
			Tasks:           categoryTasks(first),
			DBRecordVersion: r.version,
		},
	}); err != nil {
		return nil, err
	}
	r.written = r.nextEventID
	// 3-5: the transfer queue reads the task, pushes it to matching, completes it.
	low := first.GetKey()
	if _, err := m.execution.GetHistoryTasks(ctx, &persistence.GetHistoryTasksRequest{
		ShardID:             w.shardID,
		TaskCategory:        tasks.CategoryTransfer,
		InclusiveMinTaskKey: low,
		ExclusiveMaxTaskKey: tasks.NewImmediateKey(low.TaskID + 1),
		BatchSize:           10,
	}); err != nil {
		return nil, err
	}
	w.nextTaskID++
	matchingID := w.nextTaskID
	if _, err := m.task.CreateTasks(ctx, &persistence.CreateTasksRequest{
		TaskQueueInfo: &persistence.PersistedTaskQueueInfo{Data: w.queue, RangeID: queueRangeID},
		Tasks: []*persistencespb.AllocatedTaskInfo{{
			TaskId: matchingID,
			Data: &persistencespb.TaskInfo{
				NamespaceId:      r.key.NamespaceID,
				WorkflowId:       r.key.WorkflowID,
				RunId:            r.key.RunID,
				ScheduledEventId: r.nextEventID - 1,
				CreateTime:       timestamppb.Now(),
			},
		}},
	}); err != nil {
		return nil, err
	}
	if err := m.execution.CompleteHistoryTask(ctx, &persistence.CompleteHistoryTaskRequest{
		ShardID: w.shardID, TaskCategory: tasks.CategoryTransfer, TaskKey: low,
	}); err != nil {
		return nil, err
	}
	// 6-9: matching hands the task to a worker (read), the workflow task starts (batch and
	// transition), matching's ack level moves past it.
	if _, err := m.task.GetTasks(ctx, &persistence.GetTasksRequest{
		NamespaceID:        w.namespaceID,
		TaskQueue:          w.queue.Name,
		TaskType:           w.queue.TaskType,
		InclusiveMinTaskID: matchingID,
		ExclusiveMaxTaskID: matchingID + 1,
		PageSize:           10,
	}); err != nil {
		return nil, err
	}
	if err := r.append(ctx, m, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED); err != nil {
		return nil, err
	}
	if err := r.update(ctx, m, nil, nil); err != nil {
		return nil, err
	}
	if _, err := m.task.CompleteTasksLessThan(ctx, &persistence.CompleteTasksLessThanRequest{
		NamespaceID:        w.namespaceID,
		TaskQueueName:      w.queue.Name,
		TaskType:           w.queue.TaskType,
		ExclusiveMaxTaskID: matchingID + 1,
		Limit:              completeTaskPage,
	}); err != nil {
		return nil, err
	}
	// 10-13: the workflow task completes scheduling an activity (batch, transition with the
	// activity's info and its transfer task), the activity runs (batch, transition deleting
	// the activity's info, a new workflow task).
	if err := r.append(ctx, m, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED); err != nil {
		return nil, err
	}
	scheduledID := r.nextEventID - 1
	now := timestamppb.Now()
	activity := &persistencespb.ActivityInfo{
		Version:                failoverVersion,
		ScheduledEventBatchId:  scheduledID - 1,
		ScheduledTime:          now,
		StartedEventId:         -23, // common.EmptyEventID: not started yet
		ActivityId:             "1",
		RequestId:              primitives.NewUUID().String(),
		ScheduleToStartTimeout: durationpb.New(time.Minute),
		ScheduleToCloseTimeout: durationpb.New(time.Minute),
		StartToCloseTimeout:    durationpb.New(time.Minute),
		TaskQueue:              w.queue.Name,
		Attempt:                1,
	}
	if err := r.update(ctx, m, r.transferTask(true), func(mutation *persistence.WorkflowMutation) {
		mutation.UpsertActivityInfos = map[int64]*persistencespb.ActivityInfo{scheduledID: activity}
	}); err != nil {
		return nil, err
	}
	if err := r.append(ctx, m, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED); err != nil {
		return nil, err
	}
	last := r.transferTask(false)
	if err := r.update(ctx, m, last, func(mutation *persistence.WorkflowMutation) {
		mutation.DeleteActivityInfos = map[int64]struct{}{scheduledID: {}}
	}); err != nil {
		return nil, err
	}
	// 14-17: the last workflow task completes the workflow (batch, closing transition), the
	// transfer queue range-completes what it processed, and the run is read back.
	if err := r.append(ctx, m, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED); err != nil {
		return nil, err
	}
	r.state.State = enumsspb.WORKFLOW_EXECUTION_STATE_COMPLETED
	r.state.Status = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	r.info.CloseTime = timestamppb.Now()
	if err := r.update(ctx, m, nil, nil); err != nil {
		return nil, err
	}
	if err := m.execution.RangeCompleteHistoryTasks(ctx, &persistence.RangeCompleteHistoryTasksRequest{
		ShardID:             w.shardID,
		TaskCategory:        tasks.CategoryTransfer,
		InclusiveMinTaskKey: low,
		ExclusiveMaxTaskKey: tasks.NewImmediateKey(last.GetKey().TaskID + 1),
	}); err != nil {
		return nil, err
	}
	if _, err := m.execution.GetWorkflowExecution(ctx, &persistence.GetWorkflowExecutionRequest{
		ShardID:     w.shardID,
		NamespaceID: r.key.NamespaceID,
		WorkflowID:  r.key.WorkflowID,
		RunID:       r.key.RunID,
		ArchetypeID: chasm.WorkflowArchetypeID,
	}); err != nil {
		return nil, err
	}
	return &runKey{w.shardID, r.key.NamespaceID, r.key.WorkflowID, r.key.RunID}, nil
}
