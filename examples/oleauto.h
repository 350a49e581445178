/* A minimal stand-in for Windows' <oleauto.h>: the BSTR types and the Sys*
 * functions, for programs built on Linux. OLECHAR is 16 bits, as on Windows
 * (bstrcheck's default olechar=2); a wchar_t port would define
 * OLECHAR_IS_WCHAR_T and run with olechar=4. */
#ifndef EXAMPLE_OLEAUTO_H
#define EXAMPLE_OLEAUTO_H

#include <stdint.h>

#ifdef OLECHAR_IS_WCHAR_T
#include <wchar.h>
typedef wchar_t OLECHAR;
#define OLESTR(s) L##s
#elif defined(__cplusplus)
typedef char16_t OLECHAR;
#define OLESTR(s) u##s
#else
#include <uchar.h>
typedef char16_t OLECHAR;
#define OLESTR(s) u##s
#endif

typedef OLECHAR *BSTR;
typedef const OLECHAR *LPCOLESTR;
typedef int32_t HRESULT;
typedef unsigned int UINT;
typedef int INT;

#define S_OK ((HRESULT)0)
#define E_INVALIDARG ((HRESULT)0x80070057)
#define E_OUTOFMEMORY ((HRESULT)0x8007000E)

#ifdef __cplusplus
extern "C" {
#endif
BSTR SysAllocString(const OLECHAR *psz);
BSTR SysAllocStringLen(const OLECHAR *psz, UINT len);
BSTR SysAllocStringByteLen(const char *psz, UINT len);
INT SysReAllocString(BSTR *pbstr, const OLECHAR *psz);
INT SysReAllocStringLen(BSTR *pbstr, const OLECHAR *psz, UINT len);
void SysFreeString(BSTR bstr);
UINT SysStringLen(BSTR bstr);
UINT SysStringByteLen(BSTR bstr);
HRESULT SysAddRefString(BSTR bstr);
void SysReleaseString(BSTR bstr);
#ifdef __cplusplus
}
#endif

#endif
