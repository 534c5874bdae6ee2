/* A stand-in for the quTAG vendor library (libtdcbase.so), for tagstream's tests.
 *
 * It exports the functions tagstream.sources.qutag calls, with the signatures of the vendor
 * header tdcbase.h, and serves time tags from a file instead of a device:
 *
 *   - tags file: path in the environment variable TAGSTREAM_QUTAG_STUB_TAGS, read at TDC_init;
 *     quTAG RAW layout (no header, 10-byte little-endian records: int64 time in base units,
 *     uint16 channel, 0-based as the API returns it). STUB_loadTags() loads arrays directly.
 *   - each TDC_getLastTimestamps call "detects" the next STUB_setBatch(n) tags (default 1000)
 *     before reading, except a call with a NULL timestamps array (tagstream's discard at start).
 *     Detected tags go to a ring buffer of TDC_setTimestampBufferSize entries: when more tags are
 *     detected between two reads than the buffer holds, the oldest are overwritten (counted by
 *     STUB_getOverwritten), as on the device.
 *   - STUB_injectDataLoss() latches the data-loss flag read by TDC_getDataLost.
 *
 * Compile with -DQUTAG_MC_HR for the quTAG MC/HR variant of TDC_enableChannels
 * (Bln32 enStart, Int32 channelMask) instead of the standard quTAG's (Int32 channelMask).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int32_t Int32;
typedef int64_t Int64;
typedef uint8_t Uint8;
typedef int32_t Bln32;

#define TDC_Ok 0
#define TDC_Error (-1)
#define TDC_NotConnected 2
#define TDC_OutOfRange 10
#define TDC_CantOpen 11
#define TDC_NotInitialized 12

static Int64 *g_ts = NULL;      /* all tags the "device" will detect */
static Uint8 *g_ch = NULL;
static Int64 g_n = 0;
static Int64 g_next = 0;        /* next tag to detect */
static Int64 *g_ring_ts = NULL; /* ring buffer of detected, unread tags */
static Uint8 *g_ring_ch = NULL;
static Int32 g_bufsize = 0;
static Int64 g_ring_start = 0;  /* index (into g_ts) of the oldest tag kept in the ring */
static Int64 g_overwritten = 0;
static Int32 g_batch = 1000;
static int g_initialized = 0;
static int g_init_rc = TDC_Ok;
static int g_init_calls = 0, g_deinit_calls = 0;
static Bln32 g_lost_latch = 0;
static double g_timebase_s = 1e-12;
static Int32 g_en_start = -1, g_mask = -1, g_nargs = 0;

/* ---- stub-only controls ---- */

int STUB_loadTags(const Int64 *ts, const Uint8 *ch, Int64 n)
{
  free(g_ts);
  free(g_ch);
  g_ts = malloc((size_t)(n > 0 ? n : 1) * sizeof(Int64));
  g_ch = malloc((size_t)(n > 0 ? n : 1));
  if (!g_ts || !g_ch) return TDC_Error;
  memcpy(g_ts, ts, (size_t)n * sizeof(Int64));
  memcpy(g_ch, ch, (size_t)n);
  g_n = n;
  g_next = 0;
  g_ring_start = 0;
  return TDC_Ok;
}

static int load_env_file(void)
{
  const char *path = getenv("TAGSTREAM_QUTAG_STUB_TAGS");
  FILE *f;
  long size;
  Int64 i, n;
  unsigned char rec[10];
  if (!path || !*path) return TDC_Ok;
  f = fopen(path, "rb");
  if (!f) return TDC_CantOpen;
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  fseek(f, 0, SEEK_SET);
  n = size / 10;
  free(g_ts);
  free(g_ch);
  g_ts = malloc((size_t)(n > 0 ? n : 1) * sizeof(Int64));
  g_ch = malloc((size_t)(n > 0 ? n : 1));
  for (i = 0; i < n; ++i) {
    if (fread(rec, 1, 10, f) != 10) break;
    memcpy(&g_ts[i], rec, 8); /* little-endian host assumed (x86, ARM) */
    g_ch[i] = rec[8];
  }
  fclose(f);
  g_n = i;
  g_next = 0;
  g_ring_start = 0;
  return TDC_Ok;
}

/* Back to the state after loading: nothing served, no latch, no error, default batch and time base. */
void STUB_reset(void)
{
  g_next = 0;
  g_ring_start = 0;
  g_overwritten = 0;
  g_batch = 1000;
  g_init_rc = TDC_Ok;
  g_lost_latch = 0;
  g_timebase_s = 1e-12;
  g_en_start = -1;
  g_mask = -1;
  g_nargs = 0;
  g_init_calls = 0;
  g_deinit_calls = 0;
}

void STUB_setBatch(Int32 n) { g_batch = n; }
void STUB_injectDataLoss(void) { g_lost_latch = 1; }
void STUB_setInitResult(int rc) { g_init_rc = rc; }
void STUB_setTimebase(double seconds) { g_timebase_s = seconds; }
Int64 STUB_getOverwritten(void) { return g_overwritten; }
Int64 STUB_getServed(void) { return g_next; }
Int64 STUB_getRemaining(void) { return g_n - g_next; }
int STUB_isInitialized(void) { return g_initialized; }
void STUB_getCalls(int *init_calls, int *deinit_calls) { *init_calls = g_init_calls; *deinit_calls = g_deinit_calls; }
void STUB_getEnabled(Int32 *en_start, Int32 *mask, Int32 *nargs) { *en_start = g_en_start; *mask = g_mask; *nargs = g_nargs; }

/* ---- the vendor API subset ---- */

double TDC_getVersion(void) { return 0.0; }

const char *TDC_perror(int rc)
{
  switch (rc) {
  case 0: return "Success";
  case -1: return "Unspecified error";
  case 1: return "Receive timed out";
  case 2: return "No connection was established";
  case 3: return "Error accessing the USB driver";
  case 7: return "Can't connect device because already in use";
  case 8: return "Unknown error";
  case 9: return "Invalid device number used in call";
  case 10: return "Parameter in function call is out of range";
  case 11: return "Failed to open specified file";
  case 12: return "Library has not been initialized";
  case 13: return "Requested feature is not enabled";
  case 14: return "Requested feature is not available";
  default: return "Unknown return code";
  }
}

int TDC_init(int deviceId)
{
  int rc;
  (void)deviceId;
  g_init_calls++;
  if (g_init_rc != TDC_Ok) return g_init_rc;
  rc = load_env_file();
  if (rc != TDC_Ok) return rc;
  g_initialized = 1;
  return TDC_Ok;
}

int TDC_deInit(void)
{
  g_deinit_calls++;
  g_initialized = 0;
  return TDC_Ok;
}

int TDC_getTimebase(double *timebase)
{
  if (!g_initialized) return TDC_NotInitialized;
  *timebase = g_timebase_s;
  return TDC_Ok;
}

#ifdef QUTAG_MC_HR
Int32 TDC_getModuleCount(void) { return 1; } /* only in the MC/HR header: lets tagstream detect the variant */

int TDC_enableChannels(Bln32 enStart, Int32 channelMask)
{
  if (!g_initialized) return TDC_NotInitialized;
  g_en_start = enStart;
  g_mask = channelMask;
  g_nargs = 2;
  return TDC_Ok;
}
#else
int TDC_enableChannels(Int32 channelMask)
{
  if (!g_initialized) return TDC_NotInitialized;
  g_en_start = -1;
  g_mask = channelMask;
  g_nargs = 1;
  return TDC_Ok;
}
#endif

int TDC_setTimestampBufferSize(Int32 size)
{
  if (!g_initialized) return TDC_NotInitialized;
  if (size < 1 || size > 1000000) return TDC_OutOfRange;
  free(g_ring_ts);
  free(g_ring_ch);
  g_ring_ts = malloc((size_t)size * sizeof(Int64));
  g_ring_ch = malloc((size_t)size);
  g_bufsize = size;
  g_ring_start = g_next; /* cleared */
  return TDC_Ok;
}

int TDC_getDataLost(Bln32 *lost)
{
  if (!g_initialized) return TDC_NotInitialized;
  *lost = g_lost_latch;
  g_lost_latch = 0;
  return TDC_Ok;
}

/* Detect the next batch, then hand out the ring buffer's content, oldest first. */
int TDC_getLastTimestamps(Bln32 reset, Int64 *timestamps, Uint8 *channels, Int32 *valid)
{
  Int64 stop, first, k;
  *valid = 0;
  if (!g_initialized || g_bufsize <= 0) return TDC_Ok;
  stop = timestamps ? g_next + g_batch : g_next; /* a discard call (NULL arrays) detects nothing new */
  if (stop > g_n) stop = g_n;
  g_next = stop;
  first = g_ring_start;
  if (g_next - first > g_bufsize) { /* ring overrun: the oldest detected tags are gone */
    g_overwritten += g_next - g_bufsize - first;
    first = g_next - g_bufsize;
  }
  for (k = first; k < g_next; ++k) {
    if (timestamps) timestamps[k - first] = g_ts[k];
    if (channels) channels[k - first] = g_ch[k];
  }
  *valid = (Int32)(g_next - first);
  g_ring_start = reset ? g_next : first;
  return TDC_Ok;
}
