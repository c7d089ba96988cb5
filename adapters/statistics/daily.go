// Package statistics is the "statistics" follower: once each local day of
// an instance has ended (in its reporting time zone) and the reports
// projector has applied everything stored before, it records the day's
// figures (domain.DailyStatisticsCompiled), which subscribers receive as
// the public event statistics.daily. A day's figures go to a stream of
// their own appended with no-stream, so a crash, a restart or a second
// process never records them twice.
package statistics

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// CheckpointName is the follower's row in projection_checkpoints: the log
// head as of the last pass that compiled every instance's last day.
const CheckpointName = "statistics"

// Head is the log's head.
type Head interface {
	HeadPosition(ctx context.Context) (uint64, error)
}

// Options tune the follower.
type Options struct {
	Every  time.Duration // how often it looks (default 2 s: a look with nothing to compile is one query)
	Now    func() time.Time
	Logger *slog.Logger
}

// Daily compiles each instance's figures of its last ended day.
type Daily struct {
	pool     *pgxpool.Pool
	head     Head
	commands *commands.Service
	opts     Options
	done     map[string]bool // instance|date recorded (or found recorded) by this process
}

// New makes the follower.
func New(pool *pgxpool.Pool, head Head, cmds *commands.Service, opts Options) *Daily {
	if opts.Every <= 0 {
		opts.Every = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Daily{pool: pool, head: head, commands: cmds, opts: opts, done: map[string]bool{}}
}

// Run looks every Options.Every until ctx ends.
func (d *Daily) Run(ctx context.Context) error {
	t := time.NewTicker(d.opts.Every)
	defer t.Stop()
	for {
		if _, err := d.RunOnce(ctx); err != nil && ctx.Err() == nil {
			d.opts.Logger.Warn("statistics: daily figures not compiled; will try again", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce compiles, for every instance, the local day before today unless
// recorded already; it returns how many days it recorded. With nothing to
// compile it only moves its checkpoint to the head.
func (d *Daily) RunOnce(ctx context.Context) (int, error) {
	head, err := d.head.HeadPosition(ctx)
	if err != nil {
		return 0, err
	}
	rows, err := d.pool.Query(ctx, `SELECT i.instance_id, i.alias, coalesce(s.time_zone, 'UTC') FROM instances i
		LEFT JOIN report_settings s USING (instance_id) ORDER BY i.instance_id`)
	if err != nil {
		return 0, err
	}
	type inst struct{ ID, Alias, TimeZone string }
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[inst])
	if err != nil {
		return 0, err
	}
	type due struct {
		inst
		day time.Time
	}
	var todo []due
	for _, in := range list {
		loc, err := time.LoadLocation(in.TimeZone)
		if err != nil {
			d.opts.Logger.Warn("statistics: an instance's time zone is unknown here; using UTC", "instance_id", in.ID, "time_zone", in.TimeZone)
			loc = time.UTC
		}
		local := d.opts.Now().In(loc)
		day := time.Date(local.Year(), local.Month(), local.Day()-1, 0, 0, 0, 0, time.UTC)
		if !d.done[in.ID+"|"+day.Format(time.DateOnly)] {
			todo = append(todo, due{in, day})
		}
	}
	if len(todo) > 0 {
		// Every event of an ended day is stored before now: once the reports
		// projector reached the head, the day's rollups are final.
		fresh, err := projections.WaitForPosition(ctx, d.pool, []string{projections.ReportsProjector{}.Name()}, head, 30*time.Second)
		if err != nil {
			return 0, err
		}
		if !fresh {
			return 0, fmt.Errorf("the reports projector has not reached position %d", head)
		}
	}
	recorded := 0
	for _, t := range todo {
		ok, err := d.compile(ctx, t.ID, t.Alias, t.TimeZone, t.day)
		if err != nil {
			return recorded, fmt.Errorf("instance %s: %w", t.ID, err)
		}
		if ok {
			recorded++
		}
	}
	_, err = d.pool.Exec(ctx, projections.AdvanceCheckpointSQL, CheckpointName, int64(head))
	return recorded, err
}

func (d *Daily) compile(ctx context.Context, instanceID, alias, timeZone string, day time.Time) (bool, error) {
	date := day.Format(time.DateOnly)
	figures := map[string]map[string]float64{}
	for _, typ := range []string{domain.StatisticsConversation, domain.StatisticsMessage} {
		q := projections.ReportQuery{InstanceID: instanceID, Type: typ, Start: day, End: day}
		if err := projections.ValidateReportQuery(&q); err != nil {
			return false, err
		}
		rep, err := projections.BuildReport(ctx, d.pool, q)
		if err != nil {
			return false, err
		}
		figures[typ] = rep.Total.Metrics.Map()
	}
	_, ok, err := d.commands.RecordDailyStatistics(ctx, domain.DailyStatisticsCompiled{InstanceID: instanceID, InstanceAlias: alias,
		Date: date, TimeZone: timeZone, Conversation: figures[domain.StatisticsConversation], Message: figures[domain.StatisticsMessage]},
		commands.Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "statistics"}, InstanceAlias: alias})
	if err != nil {
		return false, err
	}
	d.done[instanceID+"|"+date] = true
	if ok {
		d.opts.Logger.Info("statistics: daily figures recorded", "instance_id", instanceID, "date", date, "time_zone", timeZone)
	}
	return ok, nil
}
