/*
Copyright 2026 The finx-operator authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package sandbox

// texts is the widget's UI copy. Element ids and input names never change
// with the language, so scripts can drive any language.
type texts struct {
	Title, ChooseBank, Bank, Continue, LoginTitle, Username, Password, LogIn, Hint,
	LoginError, AccountsTitle, Approve, Cancel, NoAccounts, SelectOne, SelectOnlyOne,
	UnknownBank, ErrorTitle, NotFound, Expired, Completed, BadStep, BadRequest string
}

var translations = map[string]texts{
	"de": {
		Title: "finX Sandbox", ChooseBank: "Bank auswählen", Bank: "Bank", Continue: "Weiter",
		LoginTitle: "Anmelden bei", Username: "Anmeldename", Password: "PIN", LogIn: "Anmelden",
		Hint:       "Sandbox: Anmeldename figo01, PIN 654321.",
		LoginError: "Anmeldename oder PIN ist falsch.", AccountsTitle: "Konten auswählen",
		Approve: "Zustimmen", Cancel: "Abbrechen", NoAccounts: "Bei dieser Bank gibt es keine passenden Konten.",
		SelectOne: "Bitte mindestens ein Konto auswählen.", SelectOnlyOne: "Bitte genau ein Konto auswählen.",
		UnknownBank: "Bitte eine Bank aus der Liste auswählen.", ErrorTitle: "Vorgang nicht möglich",
		NotFound: "Dieser Link ist ungültig.", Expired: "Dieser Link ist abgelaufen.",
		Completed: "Dieser Vorgang wurde bereits abgeschlossen.", BadStep: "Bitte zuerst bei der Bank anmelden.",
		BadRequest: "Die Anfrage ist ungültig.",
	},
	"en": {
		Title: "finX Sandbox", ChooseBank: "Choose your bank", Bank: "Bank", Continue: "Continue",
		LoginTitle: "Log in to", Username: "Username", Password: "PIN", LogIn: "Log in",
		Hint:       "Sandbox: username figo01, PIN 654321.",
		LoginError: "Username or PIN is wrong.", AccountsTitle: "Choose accounts",
		Approve: "Approve", Cancel: "Cancel", NoAccounts: "This bank has no matching accounts.",
		SelectOne: "Please select at least one account.", SelectOnlyOne: "Please select exactly one account.",
		UnknownBank: "Please choose a bank from the list.", ErrorTitle: "Cannot continue",
		NotFound: "This link is not valid.", Expired: "This link has expired.",
		Completed: "This flow has already been completed.", BadStep: "Please log in to your bank first.",
		BadRequest: "The request is not valid.",
	},
	"es": {
		Title: "finX Sandbox", ChooseBank: "Elija su banco", Bank: "Banco", Continue: "Continuar",
		LoginTitle: "Iniciar sesión en", Username: "Usuario", Password: "PIN", LogIn: "Entrar",
		Hint:       "Sandbox: usuario figo01, PIN 654321.",
		LoginError: "El usuario o el PIN no son correctos.", AccountsTitle: "Elija las cuentas",
		Approve: "Aceptar", Cancel: "Cancelar", NoAccounts: "Este banco no tiene cuentas que coincidan.",
		SelectOne: "Seleccione al menos una cuenta.", SelectOnlyOne: "Seleccione exactamente una cuenta.",
		UnknownBank: "Elija un banco de la lista.", ErrorTitle: "No es posible continuar",
		NotFound: "Este enlace no es válido.", Expired: "Este enlace ha caducado.",
		Completed: "Este proceso ya se ha completado.", BadStep: "Primero inicie sesión en su banco.",
		BadRequest: "La solicitud no es válida.",
	},
	"fr": {
		Title: "finX Sandbox", ChooseBank: "Choisissez votre banque", Bank: "Banque", Continue: "Continuer",
		LoginTitle: "Connexion à", Username: "Identifiant", Password: "PIN", LogIn: "Se connecter",
		Hint:       "Sandbox : identifiant figo01, PIN 654321.",
		LoginError: "Identifiant ou PIN incorrect.", AccountsTitle: "Choisissez les comptes",
		Approve: "Accepter", Cancel: "Annuler", NoAccounts: "Cette banque n'a aucun compte correspondant.",
		SelectOne: "Sélectionnez au moins un compte.", SelectOnlyOne: "Sélectionnez exactement un compte.",
		UnknownBank: "Choisissez une banque dans la liste.", ErrorTitle: "Impossible de continuer",
		NotFound: "Ce lien n'est pas valide.", Expired: "Ce lien a expiré.",
		Completed: "Cette procédure est déjà terminée.", BadStep: "Connectez-vous d'abord à votre banque.",
		BadRequest: "La requête n'est pas valide.",
	},
	"ar": {
		Title: "finX Sandbox", ChooseBank: "اختر البنك", Bank: "البنك", Continue: "متابعة",
		LoginTitle: "تسجيل الدخول إلى", Username: "اسم المستخدم", Password: "الرقم السري", LogIn: "دخول",
		Hint:       "بيئة الاختبار: اسم المستخدم figo01، الرقم السري 654321.",
		LoginError: "اسم المستخدم أو الرقم السري غير صحيح.", AccountsTitle: "اختر الحسابات",
		Approve: "موافقة", Cancel: "إلغاء", NoAccounts: "لا توجد حسابات مطابقة لدى هذا البنك.",
		SelectOne: "يرجى اختيار حساب واحد على الأقل.", SelectOnlyOne: "يرجى اختيار حساب واحد فقط.",
		UnknownBank: "يرجى اختيار بنك من القائمة.", ErrorTitle: "لا يمكن المتابعة",
		NotFound: "هذا الرابط غير صالح.", Expired: "انتهت صلاحية هذا الرابط.",
		Completed: "اكتملت هذه العملية بالفعل.", BadStep: "يرجى تسجيل الدخول إلى البنك أولاً.",
		BadRequest: "الطلب غير صالح.",
	},
}

func textsFor(lang string) texts {
	if t, ok := translations[lang]; ok {
		return t
	}
	return translations["en"]
}

func dirFor(lang string) string {
	if lang == "ar" {
		return "rtl"
	}
	return "ltr"
}
