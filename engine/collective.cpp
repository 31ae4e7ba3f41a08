// The single-rank collective: every operation of the base class is already the one-rank identity.
#include "engine/collective.h"

collective& collective_single() {
    static collective single;
    return single;
}
