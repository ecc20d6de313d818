/*
 * The table of rule kinds: jd_rule_kind_t (compiled by the config) -> the
 * kind's ops. Adding a kind adds one row here and its own file beside this
 * one (docs/adding-a-rule-kind.md); nothing in src/engine/ changes.
 */
#include <stddef.h>
#include "journeyd/rule.h"

extern const jd_rule_ops_t jd_rule_burst_ops;
extern const jd_rule_ops_t jd_rule_funnel_ops;
extern const jd_rule_ops_t jd_rule_sequence_ops;
extern const jd_rule_ops_t jd_rule_absence_ops;
extern const jd_rule_ops_t jd_rule_pattern_ops;
extern const jd_rule_ops_t jd_rule_score_ops;

static const jd_rule_ops_t *const rule_kinds[] = {
    [JD_RULE_BURST] = &jd_rule_burst_ops,
    [JD_RULE_FUNNEL] = &jd_rule_funnel_ops,
    [JD_RULE_SEQUENCE] = &jd_rule_sequence_ops,
    [JD_RULE_ABSENCE] = &jd_rule_absence_ops,
    [JD_RULE_PATTERN] = &jd_rule_pattern_ops,
    [JD_RULE_SCORE] = &jd_rule_score_ops,
};

const jd_rule_ops_t *jd_rule_ops_for(jd_rule_kind_t kind)
{
    if ((size_t)kind >= sizeof(rule_kinds) / sizeof(rule_kinds[0]))
        return NULL;
    return rule_kinds[kind];
}
