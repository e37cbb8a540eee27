/*
 * mirror_view.c - the names of mirror_view.h's values, shared by the
 * mirror's command line, its view and the admin listener's JSON and
 * metrics, so `mirror status`, /api/status and /metrics say the same word.
 */
#include "common/mirror_view.h"

const char *
mirror_target_state_name(enum mirror_target_state s)
{
	switch (s) {
	case MIRROR_TARGET_UP:
		return "up";
	case MIRROR_TARGET_BACKOFF:
		return "backoff";
	case MIRROR_TARGET_FAILING:
		return "failing";
	}
	return "up";
}
