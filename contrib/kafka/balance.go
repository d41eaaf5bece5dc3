package kafka

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// boundedBalancer is franz-go's cooperative-sticky balancer whose plans
// give no member more than max partitions of topic (Config.MaxPartitions).
// Kafka's balancers give every partition to the members there are, so
// without it the last survivor of a group would hold the engines of the
// whole input. It keeps the protocol's name and wire format: members of
// a build without the bound join the same group, and when one of them
// leads, its plans are not bounded.
type boundedBalancer struct {
	kgo.GroupBalancer
	w *Worker
}

// MemberBalancer wraps the sticky balancer's, which the leader alone
// asks for, so that its plans are bounded.
func (b boundedBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	mb, topics, err := b.GroupBalancer.MemberBalancer(members)
	if err != nil {
		return nil, nil, err
	}
	cb, ok := mb.(*kgo.ConsumerBalancer)
	if !ok {
		return mb, topics, nil // not the balancer this was written for: unbounded
	}
	return &boundedMembers{cb: cb, w: b.w}, topics, nil
}

// boundedMembers bounds a sticky plan.
type boundedMembers struct {
	cb *kgo.ConsumerBalancer
	w  *Worker
}

// Balance is never called: BalanceOrError is.
func (m *boundedMembers) Balance(topics map[string]int32) kgo.IntoSyncAssignment {
	into, _ := m.BalanceOrError(topics)
	return into
}

// SetBalanceInfo passes the cluster's description on to the balancer.
func (m *boundedMembers) SetBalanceInfo(info kgo.BalanceInfo) { m.cb.SetBalanceInfo(info) }

// BalanceOrError balances as the sticky balancer does, then takes from
// each member the partitions of the input topic past the bound: those it
// does not own yet first, so that the bound revokes nothing a member may
// keep (and a member that owns too many revokes once: the partitions
// taken are free at the next balance, and only the free are taken). The
// partitions taken are left unassigned, logged and counted.
func (m *boundedMembers) BalanceOrError(topics map[string]int32) (kgo.IntoSyncAssignment, error) {
	into, err := m.cb.BalanceOrError(topics)
	if err != nil {
		return nil, err
	}
	plan, ok := into.(*kgo.BalancePlan)
	if !ok {
		return into, nil
	}
	w := m.w
	topic, most := w.cfg.Topic, w.cfg.MaxPartitions
	owned := map[string]map[int32]bool{}
	m.cb.EachMember(func(member *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		for _, op := range meta.OwnedPartitions {
			if op.Topic != topic {
				continue
			}
			for _, p := range op.Partitions {
				if owned[member.MemberID] == nil {
					owned[member.MemberID] = map[int32]bool{}
				}
				owned[member.MemberID][p] = true
			}
		}
	})
	left := 0
	for member, ts := range plan.AsMemberIDMap() {
		ps := ts[topic]
		if len(ps) <= most {
			continue
		}
		own := owned[member]
		slices.SortFunc(ps, func(a, b int32) int {
			return cmp.Or(-cmp.Compare(b2i(own[a]), b2i(own[b])), cmp.Compare(a, b))
		})
		left += len(ps) - most
		kept := slices.Clone(ps[:most])
		slices.Sort(kept)
		ts[topic] = kept
	}
	w.ctr.unassigned.Store(int64(left))
	if left > 0 {
		w.cfg.Logger.Error("every member of the group holds MaxPartitions partitions of the input: the partitions left over have no owner until a worker joins (their records wait in the brokers)",
			"topic", topic, "unassigned", left, "max_partitions", most)
	}
	return plan, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
