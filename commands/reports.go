package commands

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/socialops/socialops/domain"
)

// ChangeReportSettings sets an instance's reporting time zone and business
// hours (the reports projector applies them to what happens after).
func (s *Service) ChangeReportSettings(ctx context.Context, instanceID, timeZone string, hours []domain.BusinessWindow, cc Context) (uint64, error) {
	if err := domain.ValidateReportSettings(timeZone, hours); err != nil {
		return 0, err
	}
	if hours == nil {
		hours = []domain.BusinessWindow{}
	}
	ev := domain.ReportSettingsChanged{InstanceID: instanceID, TimeZone: timeZone, BusinessHours: hours, Actor: cc.Actor}
	p, err := s.encode(cc, domain.RandomUUID(s.random), ev)
	if err != nil {
		return 0, err
	}
	res, err := s.log.Append(ctx, domain.ReportsStream(instanceID), domain.AnyRevision(), p)
	if err != nil {
		return 0, err
	}
	return res.Position, nil
}

// PushStatistics records metrics another system pushed. The event's id is
// derived from what was pushed, so the same push sent again is stored once.
func (s *Service) PushStatistics(ctx context.Context, push domain.StatisticsPushed, cc Context) (uint64, error) {
	if err := domain.ValidatePush(push); err != nil {
		return 0, err
	}
	push.Actor = cc.Actor
	dims, err := json.Marshal(push.Dimension) // map keys are sorted: a canonical form
	if err != nil {
		return 0, err
	}
	metrics, err := json.Marshal(push.Metrics)
	if err != nil {
		return 0, err
	}
	id := domain.EventUUID("statistics-push", push.InstanceID, push.Type, push.Date, string(dims), string(metrics))
	p, err := s.encode(cc, id, push)
	if err != nil {
		return 0, err
	}
	res, err := s.log.Append(ctx, domain.ReportsStream(push.InstanceID), domain.AnyRevision(), p)
	if err != nil {
		return 0, err
	}
	return res.Position, nil
}

// RecordDailyStatistics appends a day's compiled figures once: the day's
// stream takes one event (no-stream), so a second compilation, by this
// process after a crash or by another, stores nothing. recorded is false
// when the day had its figures already.
func (s *Service) RecordDailyStatistics(ctx context.Context, daily domain.DailyStatisticsCompiled, cc Context) (pos uint64, recorded bool, err error) {
	// A fresh id: the store takes an append of an id it holds as a retry of
	// it (and answers success), where the second compilation must conflict.
	p, err := s.encode(cc, domain.RandomUUID(s.random), daily)
	if err != nil {
		return 0, false, err
	}
	res, err := s.log.Append(ctx, domain.DailyStatisticsStream(daily.InstanceID, daily.Date), domain.NoStream(), p)
	if errors.Is(err, domain.ErrWrongExpectedRevision) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return res.Position, true, nil
}
