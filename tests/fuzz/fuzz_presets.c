/* fuzz_presets - the data-file parsers: model, hardware and system presets
 * (INI), measured profiles (JSON), routing counts (CSV), sweep files and
 * safetensors checkpoints.
 * The first byte picks the parser; the rest is the file they read. */
#include <stdint.h>

#include "fuzz_file.h"

#include "common/safetensors.h"
#include "experiments/sweep.h"
#include "hardware/hardware.h"
#include "models/model.h"
#include "offload/system.h"
#include "sim/profile.h"
#include "traces/access_curve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *path = fuzz_write_file(data + 1, size - 1, ".ini");
    if (!path)
        return 0;
    promoe_err err = {{0}};
    switch (data[0] % 7) {
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
    case 4: {
        access_counts c;
        if (access_counts_from_csv(path, &c, &err) == 0) {
            access_curve_share(&c, -1, 0.3);
            access_counts_free(&c);
        }
        break;
    }
    case 6: {
        st_file f;
        if (st_open(path, &f, &err) == 0) {
            float out[4096];
            for (int i = 0; i < f.count; i++)
                if ((int)f.tensors[i].dtype >= 0 && f.tensors[i].bytes <= sizeof out / 2)
                    st_tensor_floats(&f.tensors[i], out);
            st_close(&f);
        }
        break;
    }
    case 5: {
        sweep_def d;
        if (sweep_load(path, 0, &d, &err) == 0)
            sweep_free(&d);
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
