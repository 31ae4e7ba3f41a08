#include "common/prompt.h"

const char* segment_kind_name(segment_kind kind) {
    switch (kind) {
    case SEGMENT_SYSTEM: return "system";
    case SEGMENT_SHOT: return "shot";
    case SEGMENT_QUESTION: return "question";
    case SEGMENT_TEMPLATE: return "template";
    }
    return "unknown";
}
