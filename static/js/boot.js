// Marks the page as scripted before it is first drawn, so that the enhanced layout (styled file
// buttons, drop zones, camera) shows at once. A classic script in <head>: the modules beside it run
// only after the document is parsed, too late to avoid the page changing its layout as it appears.
document.documentElement.classList.add("js");
