/*
 * A fake libnvidia-ml for the tests: the nvml* functions the exporter
 * calls, answering with the fixture host's GPU (one A100 PCIe 40GB, driver
 * 535: the values of internal/probe/testdata/tools/nvidia-smi.d/query-gpu.csv,
 * which the equivalence test compares against), and fake_* functions a test
 * calls to make it fail. Built by nvmltest.Build with gcc -shared -fPIC;
 * each test loads its own copy, so the state below is per test.
 * Signatures and codes follow nvml.h.
 */
#include <string.h>
#include <stdint.h>

typedef int nvmlReturn_t;
typedef struct fakeDevice *nvmlDevice_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7

static int init_return;   /* what nvmlInit_v2 returns */
static int device_return; /* when set, what every per-device call returns */
static int temp_return;   /* when set, what nvmlDeviceGetTemperature returns */
static int count = 1;
static int inits, shutdowns, initialised;
static int retired_pages; /* 0: not supported (an A100); else the count */

void fake_set_init_return(int r) { init_return = r; }
void fake_set_device_return(int r) { device_return = r; }
void fake_set_temp_return(int r) { temp_return = r; }
void fake_set_count(int n) { count = n; }
void fake_set_retired_pages(int n) { retired_pages = n; }
int fake_inits(void) { return inits; }
int fake_shutdowns(void) { return shutdowns; }
int fake_initialised(void) { return initialised; }

static struct fakeDevice { int index; } devices[8];

static nvmlReturn_t copy(char *buf, unsigned int len, const char *s) {
	if (strlen(s) + 1 > len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	strcpy(buf, s);
	return NVML_SUCCESS;
}

#define DEVICE_CALL(dev)                               \
	do {                                               \
		if (!initialised)                              \
			return NVML_ERROR_UNINITIALIZED;           \
		if ((dev) == 0)                                \
			return NVML_ERROR_INVALID_ARGUMENT;        \
		if (device_return)                             \
			return device_return;                      \
	} while (0)

nvmlReturn_t nvmlInit_v2(void) {
	inits++;
	if (init_return)
		return init_return;
	initialised++;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void) {
	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	shutdowns++;
	initialised--;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned int len) {
	return copy(buf, len, "535.183.01");
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) {
	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	*n = count;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *dev) {
	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	if (i >= (unsigned)count || i >= 8)
		return NVML_ERROR_INVALID_ARGUMENT;
	devices[i].index = i;
	*dev = &devices[i];
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t dev, char *buf, unsigned int len) {
	DEVICE_CALL(dev);
	/* The fixture's UUID for GPU 0; others differ in the last digit. */
	char uuid[] = "GPU-3f5a7c2e-9b41-8d06-1e7f-5c2a9d4b8e13";
	uuid[strlen(uuid) - 1] = "3456789a"[dev->index];
	return copy(buf, len, uuid);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t dev, char *buf, unsigned int len) {
	DEVICE_CALL(dev);
	return copy(buf, len, "NVIDIA A100-PCIE-40GB");
}

nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t dev, char *buf, unsigned int len) {
	DEVICE_CALL(dev);
	return copy(buf, len, "1321021034318");
}

nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t dev, char *buf, unsigned int len) {
	DEVICE_CALL(dev);
	return copy(buf, len, "92.00.25.00.08");
}

typedef struct {
	char busIdLegacy[16];
	unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
	char busId[32];
} nvmlPciInfo_t;

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t dev, nvmlPciInfo_t *p) {
	DEVICE_CALL(dev);
	memset(p, 0, sizeof *p);
	p->bus = 0x17 + dev->index;
	p->pciDeviceId = 0x20f110de;
	strcpy(p->busIdLegacy, "0000:17:00.0");
	strcpy(p->busId, "00000000:17:00.0");
	p->busId[9] += dev->index;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t dev, int sensor, unsigned int *t) {
	DEVICE_CALL(dev);
	if (temp_return)
		return temp_return;
	if (sensor != 0)
		return NVML_ERROR_INVALID_ARGUMENT;
	*t = 31;
	return NVML_SUCCESS;
}

typedef struct {
	unsigned int fieldId, scopeId;
	long long timestamp, latencyUsec;
	int valueType;
	nvmlReturn_t nvmlReturn;
	union { double d; unsigned int ui; unsigned long long ull; } value;
} nvmlFieldValue_t;

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t dev, int n, nvmlFieldValue_t *v) {
	DEVICE_CALL(dev);
	for (int i = 0; i < n; i++) {
		if (v[i].fieldId == 82) { /* NVML_FI_DEV_MEMORY_TEMP */
			v[i].valueType = 1; /* NVML_VALUE_TYPE_UNSIGNED_INT */
			v[i].value.ull = 0;
			v[i].value.ui = 36;
			v[i].nvmlReturn = NVML_SUCCESS;
		} else {
			v[i].nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
		}
	}
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t dev, unsigned int *mw) {
	DEVICE_CALL(dev);
	*mw = 34520;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t dev, unsigned int *mw) {
	DEVICE_CALL(dev);
	*mw = 250000;
	return NVML_SUCCESS;
}

typedef struct {
	unsigned int version;
	unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t dev, nvmlMemory_v2_t *m) {
	DEVICE_CALL(dev);
	if (m->version != (sizeof(nvmlMemory_v2_t) | 2 << 24))
		return 25; /* NVML_ERROR_ARGUMENT_VERSION_MISMATCH */
	m->total = 40960ULL << 20;
	m->reserved = 442ULL << 20;
	m->used = 4ULL << 20;
	m->free = m->total - m->reserved - m->used;
	return NVML_SUCCESS;
}

typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t dev, nvmlUtilization_t *u) {
	DEVICE_CALL(dev);
	u->gpu = 0;
	u->memory = 0;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t dev, int type, unsigned int *mhz) {
	DEVICE_CALL(dev);
	switch (type) {
	case 1: *mhz = 210; return NVML_SUCCESS;  /* NVML_CLOCK_SM */
	case 2: *mhz = 1215; return NVML_SUCCESS; /* NVML_CLOCK_MEM */
	}
	return NVML_ERROR_INVALID_ARGUMENT;
}

nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t dev, int *p) {
	DEVICE_CALL(dev);
	*p = 0;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t dev, unsigned int *pct) {
	DEVICE_CALL(dev);
	(void)pct;
	return NVML_ERROR_NOT_SUPPORTED; /* passively cooled */
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t dev, unsigned int *v) { DEVICE_CALL(dev); *v = 4; return NVML_SUCCESS; }
nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t dev, unsigned int *v) { DEVICE_CALL(dev); *v = 4; return NVML_SUCCESS; }
nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t dev, unsigned int *v) { DEVICE_CALL(dev); *v = 16; return NVML_SUCCESS; }
nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t dev, unsigned int *v) { DEVICE_CALL(dev); *v = 16; return NVML_SUCCESS; }

nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t dev, int *cur, int *pending) {
	DEVICE_CALL(dev);
	*cur = 1;
	*pending = 1;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t dev, int type, int counter, unsigned long long *n) {
	DEVICE_CALL(dev);
	if (counter != 1) /* NVML_AGGREGATE_ECC */
		return NVML_ERROR_INVALID_ARGUMENT;
	*n = type == 0 ? 3 : 0;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t dev, int cause, unsigned int *n, unsigned long long *addrs) {
	DEVICE_CALL(dev);
	if (!retired_pages)
		return NVML_ERROR_NOT_SUPPORTED;
	unsigned int have = cause == 0 ? retired_pages : 0;
	if (*n < have) {
		*n = have;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (unsigned int i = 0; i < have; i++)
		addrs[i] = 0x1000 * i;
	*n = have;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t dev, int *pending) {
	DEVICE_CALL(dev);
	if (!retired_pages)
		return NVML_ERROR_NOT_SUPPORTED;
	*pending = 0;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t dev, unsigned long long *mask) {
	DEVICE_CALL(dev);
	*mask = 0x1; /* idle */
	return NVML_SUCCESS;
}
