// Compiled driver of the stitched top (fqsr_top): streams a stimulus file through the model with no
// host language in the clock loop. File formats, cycle counting and seeding: fqsr/sim/harness.py.
#include <verilated.h>
#include <verilated_syms.h>

#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "Vfqsr_top.h"
#if VM_TRACE_FST
#include <verilated_fst_c.h>
using Trace = VerilatedFstC;
#elif VM_TRACE
#include <verilated_vcd_c.h>  // where liblz4 (the FST writer's) is missing
using Trace = VerilatedVcdC;
#endif

namespace {

// CPython's random.Random: MT19937 seeded by init_by_array over the seed's 32-bit words, and
// random() = (a>>5 * 2^26 + b>>6) / 2^53, so every gap and stall equals the cocotb bench's.
class PyRandom {
  public:
    explicit PyRandom(const std::vector<uint32_t>& key) {
        init_genrand(19650218U);
        uint32_t i = 1, j = 0;
        const uint32_t len = static_cast<uint32_t>(key.size());
        for (uint32_t k = N > len ? N : len; k; k--) {
            mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525U)) + key[j] + j;
            i++, j++;
            if (i >= N) mt_[0] = mt_[N - 1], i = 1;
            if (j >= len) j = 0;
        }
        for (uint32_t k = N - 1; k; k--) {
            mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941U)) - i;
            i++;
            if (i >= N) mt_[0] = mt_[N - 1], i = 1;
        }
        mt_[0] = 0x80000000U;
    }
    double random() {
        const uint32_t a = next() >> 5, b = next() >> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }

  private:
    static constexpr uint32_t N = 624, M = 397;
    uint32_t mt_[N];
    uint32_t mti_ = N;
    void init_genrand(uint32_t s) {
        mt_[0] = s;
        for (uint32_t i = 1; i < N; i++) mt_[i] = 1812433253U * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + i;
        mti_ = N;
    }
    uint32_t next() {
        if (mti_ >= N) {
            for (uint32_t k = 0; k < N; k++) {
                const uint32_t y = (mt_[k] & 0x80000000U) | (mt_[(k + 1) % N] & 0x7fffffffU);
                mt_[k] = mt_[(k + M) % N] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0U);
            }
            mti_ = 0;
        }
        uint32_t y = mt_[mti_++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680U;
        y ^= (y << 15) & 0xefc60000U;
        y ^= y >> 18;
        return y;
    }
};

[[noreturn]] void fail(const std::string& msg) {
    std::fprintf(stderr, "fqsr harness: %s\n", msg.c_str());
    std::exit(2);
}

class Reader {
  public:
    explicit Reader(const char* path) {
        FILE* f = std::fopen(path, "rb");
        if (!f) fail(std::string("cannot open stimulus ") + path);
        std::fseek(f, 0, SEEK_END);
        buf_.resize(static_cast<size_t>(std::ftell(f)));
        std::fseek(f, 0, SEEK_SET);
        if (std::fread(buf_.data(), 1, buf_.size(), f) != buf_.size()) fail("short read of the stimulus");
        std::fclose(f);
    }
    template <typename T> T get() {
        T v;
        take(&v, sizeof v);
        return v;
    }
    void take(void* dst, size_t n) {
        if (pos_ + n > buf_.size()) fail("truncated stimulus file");
        std::memcpy(dst, buf_.data() + pos_, n);
        pos_ += n;
    }
    std::vector<uint32_t> words(size_t n) {
        std::vector<uint32_t> v(n);
        if (n) take(v.data(), n * 4);
        return v;
    }

  private:
    std::vector<uint8_t> buf_;
    size_t pos_ = 0;
};

class Writer {
  public:
    explicit Writer(const char* path) : f_(std::fopen(path, "wb")) {
        if (!f_) fail(std::string("cannot write result ") + path);
    }
    ~Writer() { std::fclose(f_); }
    void raw(const char* p, size_t n) { std::fwrite(p, 1, n, f_); }
    template <typename T> void put(T v) { std::fwrite(&v, sizeof v, 1, f_); }
    template <typename T> void put(const std::vector<T>& v) {
        if (!v.empty()) std::fwrite(v.data(), sizeof(T), v.size(), f_);
    }

  private:
    FILE* f_;
};

// One handshaken stream: the top's ports or an internal tap (t_<tensor>, public_flat_rd in top.v).
struct Stream {
    const uint8_t* valid;
    const uint8_t* ready;
    const uint8_t* data;
    uint32_t bytes, words;
    uint64_t count = 0;
    int64_t last = -1;
    std::vector<uint32_t> recorded;
    void take(std::vector<uint32_t>& out) const {
        const size_t at = out.size();
        out.resize(at + words, 0);
        std::memcpy(out.data() + at, data, bytes);
    }
};

struct Phase {
    uint32_t rows, cols;  // the frame geometry of the phase's frames (0: the top's as it stands)
    uint64_t beats, expect;
    double p_gap, p_stall;
    uint32_t record_taps;
    std::vector<uint32_t> src_key, sink_key, data;
};

const VerilatedVar* find_var(const VerilatedScope* scope, const std::string& name) {
    const VerilatedVar* var = scope ? scope->varFind(name.c_str()) : nullptr;
    if (!var) fail("no public signal " + name + " in fqsr_top (regenerate rtl/top.v)");
    return var;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) fail("usage: harness STIMULUS RESULT [WAVES]");
    auto ctx = std::make_unique<VerilatedContext>();
#if VM_TRACE
    if (argc > 3) ctx->traceEverOn(true);  // before the model is built
#endif
    auto top = std::make_unique<Vfqsr_top>(ctx.get(), "TOP");
    Reader in(argv[1]);
    char magic[8];
    in.take(magic, 8);
    if (std::memcmp(magic, "FQSRSTI2", 8)) fail("not a stimulus file of this harness version");
    const uint32_t in_words = in.get<uint32_t>(), out_words = in.get<uint32_t>();
    const uint64_t max_cycles = in.get<uint64_t>(), idle_limit = in.get<uint64_t>();
    const uint32_t drain_cycles = in.get<uint32_t>(), settle_cycles = in.get<uint32_t>();
    const double max_wall_s = in.get<double>();
    // the tdata ports are CData..QData or VlWide<N>: little-endian bytes, sizeof() of them
    const uint32_t in_bytes = sizeof(top->s_axis_tdata), out_bytes = sizeof(top->m_axis_tdata);
    if (in_words != (in_bytes + 3) / 4 || out_words != (out_bytes + 3) / 4)
        fail("the stimulus was written for other stream widths than this build");
    std::vector<Stream> streams;
    streams.push_back({&top->s_axis_tvalid, &top->s_axis_tready,
                       reinterpret_cast<const uint8_t*>(&top->s_axis_tdata), in_bytes, in_words});
    streams.push_back({&top->m_axis_tvalid, &top->m_axis_tready,
                       reinterpret_cast<const uint8_t*>(&top->m_axis_tdata), out_bytes, out_words});
    const uint32_t n_taps = in.get<uint32_t>();
    if (n_taps) {
        const VerilatedScope* scope = ctx->scopeFind("TOP.fqsr_top");
        for (uint32_t t = 0; t < n_taps; t++) {
            std::string name(in.get<uint32_t>(), '\0');
            in.take(name.data(), name.size());
            const VerilatedVar* data = find_var(scope, name + "_tdata");
            const uint32_t bytes = data->entSize();
            streams.push_back({static_cast<const uint8_t*>(find_var(scope, name + "_tvalid")->datap()),
                               static_cast<const uint8_t*>(find_var(scope, name + "_tready")->datap()),
                               static_cast<const uint8_t*>(data->datap()), bytes, (bytes + 3) / 4});
        }
    }
    std::vector<Phase> phases(in.get<uint32_t>());
    for (Phase& p : phases) {
        p.rows = in.get<uint32_t>();
        p.cols = in.get<uint32_t>();
#ifndef FQSR_FRAME_GEOMETRY
        if (p.rows || p.cols) fail("a phase sets a frame geometry but this fqsr_top has no frame_rows/frame_cols ports");
#endif
        p.beats = in.get<uint64_t>();
        p.expect = in.get<uint64_t>();
        p.p_gap = in.get<double>();
        p.p_stall = in.get<double>();
        p.record_taps = in.get<uint32_t>();
        p.src_key = in.words(in.get<uint32_t>());
        p.sink_key = in.words(in.get<uint32_t>());
        p.data = in.words(p.beats * in_words);
    }

#if VM_TRACE
    std::unique_ptr<Trace> tfp;
    if (argc > 3) {
        tfp = std::make_unique<Trace>();
        top->trace(tfp.get(), 99);
        tfp->open(argv[3]);
    }
    auto dump = [&]() {
        if (tfp) tfp->dump(ctx->time());
    };
#else
    auto dump = []() {};
#endif
    // one clock: the rising edge, then the falling edge where the next inputs are driven
    auto rise = [&]() {
        ctx->timeInc(5);
        top->ap_clk = 1;
        top->eval();
        dump();
        ctx->timeInc(5);
        top->ap_clk = 0;
    };
    // the frame geometry: set while the top is empty (before reset, or after a phase received all of its
    // beats), then settle_cycles idle cycles before a changed geometry's first beat
    uint32_t rows_now = 0, cols_now = 0;
    auto set_geometry = [&](const Phase& p) {
        if (!p.rows && !p.cols) return false;
        const bool changed = p.rows != rows_now || p.cols != cols_now;
        rows_now = p.rows, cols_now = p.cols;
#ifdef FQSR_FRAME_GEOMETRY
        top->frame_rows = rows_now;
        top->frame_cols = cols_now;
#endif
        return changed;
    };
    if (!phases.empty()) set_geometry(phases[0]);
    top->ap_clk = 0;
    top->ap_rst_n = 0;
    top->s_axis_tvalid = 0;
    top->m_axis_tready = 0;
    std::memset(&top->s_axis_tdata, 0, in_bytes);
    top->eval();
    dump();
    for (int i = 0; i < 3; i++) rise();
    top->ap_rst_n = 1;  // released on a falling edge; one idle rising edge follows before cycle 0
    top->eval();
    dump();
    rise();

    Writer out(argv[2]);
    out.raw("FQSRRES1", 8);
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();  // CPU time too: on a shared machine wall time says little
    auto elapsed = [&]() { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    uint64_t cycle = 0, idle = 0;
    bool deadlock = false, wall_limited = false, idle_stop = false;
    uint32_t run = 0;
    struct Got {
        uint64_t sent = 0;
        int64_t first_in = -1;
        std::vector<uint32_t> beats;
        std::vector<uint64_t> stamps;
        std::vector<std::vector<uint32_t>> taps;
    };
    std::vector<Got> got(phases.size());
    Stream& s = streams[0];
    Stream& m = streams[1];
    for (size_t ph = 0; ph < phases.size(); ph++) {
        const Phase& p = phases[ph];
        Got& g = got[ph];
        if (ph > 0 && set_geometry(p)) {
            for (uint32_t i = 0; i < settle_cycles; i++) {
                top->eval();
                dump();
                rise();
                cycle++;
            }
        }
        PyRandom source(p.src_key), sink(p.sink_key);
        const bool record = p.record_taps != 0;
        for (size_t t = 2; t < streams.size(); t++) streams[t].recorded.clear();
        uint64_t received = 0;
        run++;
        while (received < p.expect || g.sent < p.beats) {
            if (cycle >= max_cycles) { deadlock = true; break; }
            if (idle >= idle_limit) { deadlock = idle_stop = true; break; }
            if (max_wall_s > 0 && (cycle & 4095) == 0 && elapsed() > max_wall_s) { wall_limited = true; break; }
            if ((cycle & 0xFFFFF) == 0) {  // progress.txt in the working directory, for a long run's watcher
                if (FILE* f = std::fopen("progress.txt.tmp", "w")) {
                    std::fprintf(f, "cycle %llu phase %zu of %zu received %llu of %llu sent %llu of %llu wall_s %.1f\n",
                                 static_cast<unsigned long long>(cycle), ph + 1, phases.size(),
                                 static_cast<unsigned long long>(received), static_cast<unsigned long long>(p.expect),
                                 static_cast<unsigned long long>(g.sent), static_cast<unsigned long long>(p.beats),
                                 elapsed());
                    std::fclose(f);
                    std::rename("progress.txt.tmp", "progress.txt");
                }
            }
            // the source draws a number only while it has beats left, the sink every cycle
            if (g.sent < p.beats && source.random() >= p.p_gap) {
                top->s_axis_tvalid = 1;
                std::memcpy(&top->s_axis_tdata, p.data.data() + g.sent * in_words, in_bytes);
            } else {
                top->s_axis_tvalid = 0;
            }
            top->m_axis_tready = sink.random() >= p.p_stall;
            top->eval();
            dump();
            bool moved = false;
            for (size_t t = 0; t < streams.size(); t++) {
                Stream& st = streams[t];
                if (*st.valid && *st.ready) {
                    st.count++;
                    st.last = static_cast<int64_t>(cycle);
                    moved = true;
                    if (record && t >= 2) st.take(st.recorded);
                }
            }
            if (*s.valid && *s.ready) {
                if (g.first_in < 0) g.first_in = static_cast<int64_t>(cycle);
                g.sent++;
            }
            if (*m.valid && *m.ready) {
                m.take(g.beats);
                g.stamps.push_back(cycle);
                received++;
            }
            idle = moved ? 0 : idle + 1;
            rise();
            cycle++;
        }
        top->s_axis_tvalid = 0;  // as the cocotb bench: one unobserved idle cycle between phases
        top->m_axis_tready = 0;
        top->eval();
        dump();
        rise();
        cycle++;
        if (record)
            for (size_t t = 2; t < streams.size(); t++) g.taps.push_back(streams[t].recorded);
        if (deadlock || wall_limited) break;
    }
    std::vector<uint32_t> extra;
    // the deadlock report reads the handshake state where the run stopped, before any drain
    std::vector<uint8_t> state;
    for (const Stream& st : streams) state.push_back(static_cast<uint8_t>((*st.valid ? 1 : 0) | (*st.ready ? 2 : 0)));
    if (!deadlock && !wall_limited) {  // anything after the last expected beat is a bug (a duplicated beat)
        for (uint32_t i = 0; i < drain_cycles; i++) {
            top->m_axis_tready = 1;
            top->eval();
            dump();
            if (*m.valid) m.take(extra);
            rise();
        }
    }
    const double wall = elapsed();
    const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    out.put<uint32_t>(out_words);
    out.put<uint8_t>(deadlock);
    out.put<uint8_t>(wall_limited);
    out.put<uint8_t>(idle_stop);
    out.put<uint8_t>(0);
    out.put<uint64_t>(cycle);
    out.put<double>(wall);
    out.put<double>(cpu);
    out.put<uint32_t>(run);
    for (uint32_t ph = 0; ph < run; ph++) {
        const Got& g = got[ph];
        out.put<uint64_t>(g.sent);
        out.put<int64_t>(g.first_in);
        out.put<uint64_t>(g.stamps.size());
        out.put(g.beats);
        out.put(g.stamps);
        out.put<uint32_t>(static_cast<uint32_t>(g.taps.size()));
        for (size_t t = 0; t < g.taps.size(); t++) {
            out.put<uint32_t>(streams[t + 2].words);
            out.put<uint64_t>(g.taps[t].size() / streams[t + 2].words);
            out.put(g.taps[t]);
        }
    }
    out.put<uint64_t>(extra.size() / out_words);
    out.put(extra);
    out.put<uint32_t>(static_cast<uint32_t>(streams.size()));
    for (size_t t = 0; t < streams.size(); t++) {
        out.put<uint64_t>(streams[t].count);
        out.put<int64_t>(streams[t].last);
        out.put<uint8_t>(state[t]);
    }
#if VM_TRACE
    if (tfp) tfp->close();
#endif
    top->final();
    return 0;
}
