/* fuzz_presets - the data-file parsers: model, hardware and system presets
 * (INI) and measured profiles (JSON).  The first byte picks the parser; the
 * rest is the file, written to a temporary path since they read files. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "hardware/hardware.h"
#include "models/model.h"
#include "sim/profile.h"
#include "sim/system.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/promoe-fuzz-%ld.ini", (long)getpid());
    if (size < 1)
        return 0;
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    promoe_err err = {{0}};
    switch (data[0] % 4) {
    case 0: {
        model_desc m;
        model_load(path, &m, &err);
        break;
    }
    case 1: {
        hw_desc h;
        hw_load(path, &h, &err);
        break;
    }
    case 2: {
        system_desc s;
        system_load(path, &s, &err);
        break;
    }
    default: {
        cost_profile p;
        if (profile_load(path, &p, &err) == 0)
            profile_free(&p);
    }
    }
    return 0;
}
