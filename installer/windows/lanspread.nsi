; LanSpread's Windows setup, built by `scripts/package.sh windows` with
; Debian's makensis:
;   makensis -DVERSION=0.1.0 -DSRC=<folder with the files> -DOUTFILE=<setup.exe> lanspread.nsi
; SRC holds lanspread.exe, lanspread-worker.exe, lanspread.ico and LICENSE.txt.
;
; A per-machine install into Program Files with a Start menu shortcut (and a
; desktop one if asked), an uninstaller registered in Apps & features, and
; an inbound firewall rule for the worker (UDP, private and domain networks).
; `/S` installs and uninstalls silently. Installing over an older version
; replaces it in place. Uninstalling keeps the user's settings, log and
; games unless the "settings and log" option is ticked.

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma

!ifndef VERSION
  !error "give the version: -DVERSION=x.y.z"
!endif
!ifndef SRC
  !error "give the folder of the files: -DSRC=dir"
!endif
!ifndef OUTFILE
  !define OUTFILE "LanSpread-${VERSION}-setup-x64.exe"
!endif

!define PRODUCT "LanSpread"
!define PUBLISHER "LanSpread developers"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\LanSpread"
!define FIREWALL_RULE "LanSpread worker"

!include "MUI2.nsh"
!include "FileFunc.nsh"
!include "x64.nsh"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${PRODUCT}"
InstallDirRegKey HKLM "Software\${PRODUCT}" "InstallDir"
RequestExecutionLevel admin
BrandingText "${PRODUCT} ${VERSION}"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${PRODUCT} setup"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "LegalCopyright" "GPL-3.0-or-later"

!define MUI_ICON "${SRC}\lanspread.ico"
!define MUI_UNICON "${SRC}\lanspread.ico"
!define MUI_FINISHPAGE_RUN "$INSTDIR\lanspread.exe"
!insertmacro MUI_PAGE_LICENSE "${SRC}\LICENSE.txt"
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "LanSpread needs 64-bit Windows." /SD IDOK
    Abort
  ${EndIf}
  SetRegView 64
FunctionEnd

Function un.onInit
  SetRegView 64
FunctionEnd

Section "LanSpread" SecMain
  SectionIn RO
  SetShellVarContext all
  ; A running app or worker would keep its files locked during an upgrade.
  nsExec::Exec 'taskkill /F /IM lanspread.exe'
  nsExec::Exec 'taskkill /F /IM lanspread-worker.exe'
  SetOutPath "$INSTDIR"
  File "${SRC}\lanspread.exe"
  File "${SRC}\lanspread-worker.exe"
  File "${SRC}\LICENSE.txt"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateShortcut "$SMPROGRAMS\${PRODUCT}.lnk" "$INSTDIR\lanspread.exe"

  ; One rule, replaced on upgrade: the worker is the only program that
  ; listens, and only on private and domain networks.
  nsExec::Exec 'netsh advfirewall firewall delete rule name="${FIREWALL_RULE}"'
  nsExec::Exec 'netsh advfirewall firewall add rule name="${FIREWALL_RULE}" dir=in action=allow program="$INSTDIR\lanspread-worker.exe" protocol=UDP profile=private,domain enable=yes'

  WriteRegStr HKLM "Software\${PRODUCT}" "InstallDir" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\lanspread.exe"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "EstimatedSize" "$0"
SectionEnd

Section /o "Desktop shortcut" SecDesktop
  SetShellVarContext all
  CreateShortcut "$DESKTOP\${PRODUCT}.lnk" "$INSTDIR\lanspread.exe"
SectionEnd

Section "Uninstall"
  SetShellVarContext all
  nsExec::Exec 'taskkill /F /IM lanspread.exe'
  nsExec::Exec 'taskkill /F /IM lanspread-worker.exe'
  nsExec::Exec 'netsh advfirewall firewall delete rule name="${FIREWALL_RULE}"'
  Delete "$SMPROGRAMS\${PRODUCT}.lnk"
  Delete "$DESKTOP\${PRODUCT}.lnk"
  Delete "$INSTDIR\lanspread.exe"
  Delete "$INSTDIR\lanspread-worker.exe"
  Delete "$INSTDIR\LICENSE.txt"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINSTALL_KEY}"
  DeleteRegKey HKLM "Software\${PRODUCT}"
SectionEnd

; Off unless ticked: the settings and the log are the user's. Games are
; never removed (they may be shared with other PCs and other programs).
Section /o "un.My settings and log" SecUnUserData
  SetShellVarContext current
  RMDir /r "$APPDATA\${PRODUCT}"
SectionEnd
